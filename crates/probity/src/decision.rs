//! Decisions and overdue reports: the JSON contract every surface shares.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smol_str::SmolStr;
use std::sync::Arc;

use crate::value::Value;

/// The outcome of a decision, ordered by severity: `allow` < `review` < `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub enum Verdict {
    /// Nothing stops the action.
    Allow,
    /// A person must look at the action.
    Review,
    /// The action must not go ahead.
    Deny,
}

impl Verdict {
    /// The verdict's keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Review => "review",
            Verdict::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The decision on one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Decision {
    /// The action's id.
    pub action: SmolStr,
    /// The action's timestamp, RFC 3339.
    pub at: SmolStr,
    /// The most severe outcome across all findings.
    pub verdict: Verdict,
    /// Every policy version in force for the action, ordered by id.
    pub policies: Vec<AppliedPolicy>,
    /// What fired, ordered by policy id and then by position in the policy file.
    pub findings: Vec<Finding>,
    /// Duties the action started, with their deadlines.
    pub obligations: Vec<Obligation>,
    /// Earlier obligations this action met.
    pub fulfilled: Vec<Fulfilment>,
    /// Teams to notify, each once, in the order the findings name them.
    pub escalations: Vec<SmolStr>,
    /// Sanction ladder steps reached by this action's breaches.
    pub sanctions: Vec<Sanction>,
}

/// A policy version that applied to an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct AppliedPolicy {
    /// The policy id.
    pub id: SmolStr,
    /// The version string of the file in force.
    pub version: SmolStr,
    /// `sha256:` and the hex digest of the file's bytes.
    pub digest: SmolStr,
}

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub enum FindingKind {
    /// A rule fired.
    Rule,
    /// A conflict-of-interest check fired.
    Conflict,
    /// A duty that must already be met was not.
    Duty,
    /// An obligation passed its deadline.
    Overdue,
    /// A rule could not be evaluated; the decision fails closed.
    Error,
    /// A ladder step the RM reached restricts the action's type.
    Restriction,
}

impl FindingKind {
    /// The kind's keyword, as the decision JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Rule => "rule",
            FindingKind::Conflict => "conflict",
            FindingKind::Duty => "duty",
            FindingKind::Overdue => "overdue",
            FindingKind::Error => "error",
            FindingKind::Restriction => "restriction",
        }
    }
}

/// One rule, conflict or duty that fired (or could not be evaluated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Finding {
    /// The policy id.
    pub policy: SmolStr,
    /// The rule, conflict or duty id.
    pub rule: SmolStr,
    /// What kind of finding this is.
    pub kind: FindingKind,
    /// The error's stable code (`E0001`…), on findings of kind `error` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<SmolStr>,
    /// The outcome keywords in the order written (`deny`, `breach`, `escalate`, …).
    pub outcomes: Arc<[SmolStr]>,
    /// The breach's severity, when the finding records a breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<SmolStr>,
    /// The ladder the breach counts on, when the finding records a breach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder: Option<SmolStr>,
    /// The message in the policy's default language.
    pub message: SmolStr,
    /// The message in further languages, by language tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "ordered_map")]
    #[cfg_attr(feature = "typescript", tsify(optional, type = "Record<string, string>"))]
    pub messages: Vec<(SmolStr, SmolStr)>,
    /// Citations of the rule.
    pub cite: Arc<[SmolStr]>,
    /// The values the rule saw, by path (or `let` name), in the order the rule reads them.
    #[serde(with = "ordered_map")]
    #[cfg_attr(feature = "typescript", tsify(type = "Record<string, unknown>"))]
    pub evidence: Vec<(SmolStr, EvidenceValue)>,
}

/// A value a rule saw, as decision JSON writes it: money and decimals as exact text, dates
/// and timestamps as ISO text, enum members by name, sets, lists and records as arrays, an
/// absent field as `null`.
///
/// A decision keeps the values as the engine read them and writes them out only when it is
/// serialised; [`EvidenceValue::to_json`] gives the JSON value. Two evidence values are equal
/// when their JSON is.
#[derive(Debug, Clone)]
pub struct EvidenceValue(Evidence);

#[derive(Debug, Clone)]
enum Evidence {
    /// Read by the engine; enum members are already names.
    Read(Value),
    /// Read back from JSON.
    Json(serde_json::Value),
}

impl EvidenceValue {
    /// A value the engine read (enum members must already be named).
    pub(crate) fn read(value: Value) -> Self {
        EvidenceValue(Evidence::Read(value))
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.0 {
            Evidence::Read(_) => serde_json::to_value(self).unwrap_or_default(),
            Evidence::Json(j) => j.clone(),
        }
    }
}

impl PartialEq for EvidenceValue {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Evidence::Json(a), Evidence::Json(b)) => a == b,
            _ => self.to_json() == other.to_json(),
        }
    }
}

impl From<serde_json::Value> for EvidenceValue {
    fn from(json: serde_json::Value) -> Self {
        EvidenceValue(Evidence::Json(json))
    }
}

impl Serialize for EvidenceValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Evidence::Read(v) => v.serialize_json(s),
            Evidence::Json(j) => j.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EvidenceValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_json::Value::deserialize(d).map(EvidenceValue::from)
    }
}

/// A duty to be met later, started by an action; or, in an overdue report of a periodic duty,
/// the period whose check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Obligation {
    /// The policy id.
    pub policy: SmolStr,
    /// The duty id.
    pub duty: SmolStr,
    /// The id of the action that started it (none for a periodic duty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub action: Option<SmolStr>,
    /// The period a periodic duty checked (none for an obligation started by an action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", tsify(optional))]
    pub period: Option<ObligationPeriod>,
    /// The deadline, RFC 3339; meeting it at exactly this instant is on time. For a periodic
    /// duty: the period's end plus its grace.
    pub due: SmolStr,
}

/// A periodic duty's period: local dates, `from` inclusive, `until` exclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct ObligationPeriod {
    /// The period's first day (`YYYY-MM-DD`).
    pub from: SmolStr,
    /// The day after the period's last day (`YYYY-MM-DD`).
    pub until: SmolStr,
}

/// An obligation met by an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct Fulfilment {
    /// The policy id.
    pub policy: SmolStr,
    /// The duty id.
    pub duty: SmolStr,
    /// The id of the action that started the obligation.
    pub action: SmolStr,
}

/// The step an RM reached on a sanction ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify), tsify(missing_as_null))]
pub struct Sanction {
    /// The policy id.
    pub policy: SmolStr,
    /// The ladder id.
    pub ladder: SmolStr,
    /// The RM's points on the ladder inside its window, the new breaches included.
    pub points: i64,
    /// The label of the highest step reached.
    pub step: SmolStr,
    /// The step reached without the new breaches, if any.
    pub previous: Option<SmolStr>,
}

/// An obligation that passed its deadline, reported when the ledger's clock moved past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(tsify::Tsify))]
pub struct OverdueReport {
    /// The RM's id.
    pub rm: SmolStr,
    /// The deadline that passed.
    pub at: SmolStr,
    /// The obligation.
    pub obligation: Obligation,
    /// One finding of kind `overdue`.
    pub findings: Vec<Finding>,
    /// Teams to notify.
    pub escalations: Vec<SmolStr>,
    /// Sanction steps reached by the overdue breach.
    pub sanctions: Vec<Sanction>,
}

impl Decision {
    /// The decision as compact JSON, byte-identical on every surface.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl OverdueReport {
    /// The report as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// (De)serialises a list of pairs as a JSON object that keeps the list's order.
pub(crate) mod ordered_map {
    use super::*;

    pub(crate) fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        pairs: &[(K, V)],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(pairs.len()))?;
        for (k, v) in pairs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, K: Deserialize<'de>, V: Deserialize<'de>>(
        d: D,
    ) -> Result<Vec<(K, V)>, D::Error> {
        struct Pairs<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Pairs<K, V> {
            type Value = Vec<(K, V)>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(out)
            }
        }
        d.deserialize_map(Pairs(std::marker::PhantomData))
    }
}
